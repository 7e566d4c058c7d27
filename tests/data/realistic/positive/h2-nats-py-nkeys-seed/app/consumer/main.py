import asyncio
import nats

NATS_URL = "nats://nats.mnq.fr-par.scaleway.com:4222"
NKEY_SEED = "SUGTDUK7R4JKOI53UI2QPNM7AYNRMXZY4GZWXJLDQIDJNNBRDZVLYCJMAH"


async def main():
    nc = await nats.connect(NATS_URL, nkeys_seed_str=NKEY_SEED, tls_handshake_first=False)
    sub = await nc.subscribe("orders.>")
    async for msg in sub.messages:
        print(msg.subject, msg.data.decode())


asyncio.run(main())
