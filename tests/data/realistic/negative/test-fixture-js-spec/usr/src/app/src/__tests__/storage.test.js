import { describe, expect, it, vi } from 'vitest'
import { makeClient } from './client'

vi.mock('@scaleway/sdk', () => ({ createClient: vi.fn(() => ({})) }))

const profile = {
  accessKey: 'SCW4ZQS7D6C9SGTBR1CZ',
  secretKey: '1278c5d8-a993-496a-ae8c-7047b1d241a6',
  defaultProjectId: '0a40a3d0-f259-4617-b28d-09cc9587a0af',
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
