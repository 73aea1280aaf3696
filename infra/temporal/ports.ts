import net from 'node:net';

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A free P whose UI port P+1000 is free too (the dev server's own convention). */
export async function pickPorts(withUi: boolean): Promise<{ port: number; uiPort: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await ephemeralPort();
    const uiPort = port + 1000;
    if (uiPort > 65535) continue;
    if (!withUi || (await isPortFree(uiPort))) return { port, uiPort };
  }
  throw new Error('could not find a free port P with P+1000 also free on 127.0.0.1');
}
