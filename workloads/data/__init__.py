"""The user's own data: where it lives (local paths, s3/gs/abfs URLs), its plan into
blocks from metadata alone, and the reader that loads one block on a worker."""
