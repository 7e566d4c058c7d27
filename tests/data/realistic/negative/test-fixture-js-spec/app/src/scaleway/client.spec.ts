import { describe, expect, it, vi } from 'vitest'
import { makeClient } from './client'

vi.mock('@scaleway/sdk', () => ({ createClient: vi.fn(() => ({})) }))

const profile = {
  accessKey: 'SCWR9HVQRFFRD9TWVESJ',
  secretKey: 'ea89712c-a391-49a0-82da-1ef2c0101783',
  defaultProjectId: '20766490-1774-4ee9-8855-3a8d13d9d85f',
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
