import sharp from 'sharp';

export type TestImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';

/**
 * A real image made at test time. `noise` keeps encoders from making it trivially small (a realistic
 * size); `orientation` writes an EXIF orientation tag.
 */
export async function makeImage(
  format: TestImageFormat,
  width: number,
  height: number,
  opts: { noise?: boolean; orientation?: number } = {},
): Promise<Buffer> {
  let img = sharp({
    create: {
      width,
      height,
      channels: 3,
      background: { r: 40, g: 120, b: 200 },
      ...(opts.noise ? { noise: { type: 'gaussian' as const, mean: 128, sigma: 40 } } : {}),
    },
  });
  if (opts.orientation) img = img.withMetadata({ orientation: opts.orientation });
  switch (format) {
    case 'jpeg':
      return img.jpeg().toBuffer();
    case 'png':
      return img.png().toBuffer();
    case 'webp':
      return img.webp().toBuffer();
    case 'gif':
      return img.gif().toBuffer();
    case 'avif':
      return img.avif({ effort: 0 }).toBuffer();
    case 'tiff':
      return img.tiff().toBuffer();
    default: {
      const never: never = format;
      throw new Error(`unknown format ${String(never)}`);
    }
  }
}
