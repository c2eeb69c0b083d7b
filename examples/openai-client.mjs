// Talk to `bitnet serve` with the official OpenAI client. Start a server first:
//   node bin/bitnet.js serve            (demo model)   or   node bin/bitnet.js serve -m model.gguf
// then: node examples/openai-client.mjs [http://127.0.0.1:8080/v1]
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.argv[2] ?? 'http://127.0.0.1:8080/v1', apiKey: process.env.BITNET_API_KEY ?? 'none' });
const models = await client.models.list();
const model = models.data[0]?.id ?? 'bitnet';
const stream = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Say hello in three languages.' }],
  max_tokens: 48,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
  if (chunk.usage) console.error(`\n${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens`);
}
