// The SDK inside an existing Node service (a bare node:http server stands in for yours): one route fuses a pair
// of .npy files and publishes the result durably over MQTT.  MODEL=... BROKER=mqtt://... npx ts-node examples/embed-in-service.ts
import { createServer } from 'node:http';
import { CubePublisher, FusionModel, readNpy } from '../sdk'; // `from 'spectra-edge'` in an installed service

async function main(): Promise<void> {
  const model = await FusionModel.load(process.env.MODEL ?? 'models/student.onnx'); // TensorRT > CUDA > CPU
  const publisher = await CubePublisher.connect({
    broker: process.env.BROKER ?? 'mqtt://127.0.0.1:1883',
    protocolVersion: process.env.MQTT_VERSION === '4' ? 4 : 5,
    device: 'service-1',
    outbox: process.env.OUTBOX ?? 'outbox', // survives broker outages and restarts
  });
  const server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://localhost').searchParams; // GET /fuse?lrhsi=a.npy&hrmsi=b.npy
    (async () => {
      const lrhsi = await readNpy(q.get('lrhsi') ?? '', { wavelengths: model.inputSpec.wavelengths });
      const fused = await model.fuse(lrhsi, await readNpy(q.get('hrmsi') ?? ''));
      const sequence = await publisher.publish(fused, { model: { id: model.card.name, precision: model.card.precision ?? 'fp32' } });
      res.end(JSON.stringify({ sequence, provider: model.providers.granted, ms: fused.timing.totalMs }));
    })().catch((err: Error) => res.writeHead(400).end(JSON.stringify({ error: err.message })));
  });
  server.listen(Number(process.env.PORT ?? 3000));
  process.once('SIGTERM', () => server.close(() => void publisher.close().then(() => model.release())));
}

void main();
