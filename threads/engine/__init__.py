"""The orchestration engine: the run loop (`loop`), the event publisher (`publisher`), typed event payloads
(`events`), LLM streaming (`llm`) and run control (`control`). Plain async Python: no request, serializer
or consumer objects."""
