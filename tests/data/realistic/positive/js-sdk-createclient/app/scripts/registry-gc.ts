import { createClient, Registry } from '@scaleway/sdk'

const client = createClient({
  accessKey: 'SCW4T90PBA2AAAGT0SSQ',
  secretKey: '44399a11-d0c7-44d5-b23c-e982f77d06cb',
  defaultProjectId: '393f5581-bd9f-424b-9805-52262a7a6a6d',
  defaultRegion: 'fr-par',
  defaultZone: 'fr-par-1',
})

export const listImages = async () => new Registry.v1.API(client).listImages()
