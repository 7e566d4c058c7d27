import { describe, expect, it, vi } from 'vitest'
import { makeClient } from './client'

vi.mock('@scaleway/sdk', () => ({ createClient: vi.fn(() => ({})) }))

const profile = {
  accessKey: 'SCWJ2686JBNMGPGCHWF9',
  secretKey: '760b0654-eceb-450d-8ca0-6bba25840438',
  defaultProjectId: 'bdbf483d-a22f-45c9-8d73-4f3ea966cb5e',
  defaultRegion: 'fr-par',
}

describe('makeClient', () => {
  it('passes the profile through', () => {
    const client = makeClient(profile)
    expect(client).toBeDefined()
  })

  it('rejects a malformed secret key', () => {
    expect(() => makeClient({ ...profile, secretKey: 'not-a-uuid' })).toThrow()
  })
})
