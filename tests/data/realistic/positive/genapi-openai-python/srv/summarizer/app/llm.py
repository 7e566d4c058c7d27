from openai import OpenAI

client = OpenAI(
    base_url="https://api.scaleway.ai/1954780d-04fe-4b57-8691-bcf5d28677ba/v1",
    api_key="e729ad9e-2eef-465a-ab1e-c913f3d6d673",
)


def summarize(text: str) -> str:
    resp = client.chat.completions.create(
        model="llama-3.3-70b-instruct",
        messages=[{"role": "system", "content": "Summarize in French."}, {"role": "user", "content": text}],
        max_tokens=512,
        temperature=0.3,
    )
    return resp.choices[0].message.content
