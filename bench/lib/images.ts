import sharp from 'sharp';

/** A JPEG of noise (so the encoder cannot make it trivially small), about `targetKb` when given a size. */
export async function noiseJpeg(width: number, height: number, quality = 80): Promise<Buffer> {
  return sharp({
    create: { width, height, channels: 3, background: '#3070c0', noise: { type: 'gaussian', mean: 128, sigma: 30 } },
  })
    .jpeg({ quality })
    .toBuffer();
}

/** A ~200 KB JPEG: noise at 780x585, q85 (the bench's upload). */
export async function jpeg200k(): Promise<Buffer> {
  return noiseJpeg(780, 585, 85);
}
