"""Call the private pdf-renderer container from the batch job."""
import requests

CONTAINER_URL = "https://acmedocs4k2m8p-pdf-renderer.functions.fnc.fr-par.scw.cloud"
# Token created with: scw container token create container-id=... expires-at=2025-12-31T00:00:00Z
CONTAINER_TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBsaWNhdGlvbl9jbGFpbSI6W3sibmFtZXNwYWNlX2lkIjoiZGI3OGE2MDItMWJiZi00ODY3LWEzNGUtNDUxYTg3MjVhYTUzIiwiYXBwbGljYXRpb25faWQiOiI4Y2NkNTFmOS01Y2YwLTRhNmUtYWE5Yi02NzEyYTJlZTc1ZWUifV0sInZlcnNpb24iOiJiYXNpYyIsImp0aSI6IjcyNTE2MWYwLTJmYjQtNGM1OS1iYTE2LTllNzVjNDNkMjQ2OCIsImlzcyI6IlNDQUxFV0FZIiwiaWF0IjoxNzA2MDA5NzgxfQ.mZ8jShDCU2QzkI9dGVHcrsLo0BADXUPHcIcTG8TUEFMI_e6dHDHacB6GJYfchodz57Uw-FfIMfpO40GIn4CD4Elt4R2beMvCk_HvPyxF6E5KLilbCVeGaXBufSzD8zHqXyoYVF0Ps-rnmRyZoisUOyOeBnxurj0GXFJX9COqQtJ5jqbS8kGXSavrIayc_I2EIHrlaEDbU0HZbvM7x5JODhabSoCuMwh6iQI6FqY7qKA3B6SxJS-KJY0MYDqiNKVK608HQPldrhKlYVr_7qznntCUsgA2nEG5pq941IGFLrtL5vMaqgOFAF7Df7JvCvlkd7qgZXBtpmc88vJofVdAIQ"


def render(html: str) -> bytes:
    resp = requests.post(
        f"{CONTAINER_URL}/render",
        headers={"X-Auth-Token": CONTAINER_TOKEN, "Content-Type": "text/html"},
        data=html.encode(),
        timeout=30,
    )
    resp.raise_for_status()
    return resp.content
