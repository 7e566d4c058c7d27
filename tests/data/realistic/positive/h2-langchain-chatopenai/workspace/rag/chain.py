from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from langchain_core.prompts import ChatPromptTemplate

llm = ChatOpenAI(
    base_url="https://api.scaleway.ai/v1",
    api_key="5fa21976-13f0-40ff-a2fa-165276ba023f",
    model="llama-3.1-8b-instruct",
    temperature=0.2,
)
embeddings = OpenAIEmbeddings(
    base_url="https://api.scaleway.ai/v1",
    api_key="5fa21976-13f0-40ff-a2fa-165276ba023f",
    model="bge-multilingual-gemma2",
    check_embedding_ctx_length=False,
)
prompt = ChatPromptTemplate.from_messages([("system", "Answer from the context."), ("human", "{question}")])
chain = prompt | llm
