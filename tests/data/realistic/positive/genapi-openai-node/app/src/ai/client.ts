import OpenAI from "openai";

export const llm = new OpenAI({
  apiKey: "eb42747e-643d-4a50-b50a-df4c2f937b03",
  baseURL: "https://api.scaleway.ai/v1",
});

export async function embed(input: string[]) {
  const res = await llm.embeddings.create({ model: "bge-multilingual-gemma2", input });
  return res.data.map((d) => d.embedding);
}
