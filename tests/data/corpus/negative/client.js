import { createClient } from '@scaleway/sdk'

export const client = createClient({
  accessKey: process.env.SCW_ACCESS_KEY,
  secretKey: process.env.SCW_SECRET_KEY,
  defaultProjectId: '1d79244d-8c07-4ed5-b526-31967dee6491',
  defaultRegion: 'fr-par',
  apiURL: 'https://api.scaleway.com',
})
