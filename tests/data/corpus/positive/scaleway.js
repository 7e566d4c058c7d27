import { createClient, Instance } from '@scaleway/sdk'

const client = createClient({
  accessKey: 'SCWEJBG64QY1PV42RTFW',
  secretKey: '7b07945c-60bd-4db3-a11a-bdf9635993a5',
  defaultProjectId: '7342a562-a1d7-4e90-976a-63d7ed3e1d42',
  defaultRegion: 'fr-par',
  defaultZone: 'fr-par-1',
})

export async function listServers() {
  const api = new Instance.v1.API(client)
  const { servers } = await api.listServers({ zone: 'fr-par-1' })
  return servers.map((s) => ({ id: s.id, name: s.name, state: s.state }))
}
