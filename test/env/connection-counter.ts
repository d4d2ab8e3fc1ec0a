// A TCP relay that counts the connections made through it: point a client's kubeconfig at it to
// see how many connections (each a TLS handshake the API server pays for) the client opens. It
// relays bytes only, so TLS still ends at the real server.

import { connect, createServer, type Socket } from 'node:net';

export interface ConnectionCounter {
  /** The relay's address, with the target's scheme: `https://127.0.0.1:<port>`. */
  url: string;
  /** Connections accepted so far. */
  opened(): number;
  /** Connections open now. */
  open(): number;
  /** Stops accepting and cuts every relayed connection. */
  stop(): Promise<void>;
}

export async function startConnectionCounter(target: string): Promise<ConnectionCounter> {
  const { protocol, hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let opened = 0;
  let open = 0;
  // Without noDelay each side would hold a small write back until the previous one is acknowledged
  // (Nagle's algorithm), and the peer delays that acknowledgement by up to 40 ms: a request right
  // after another would wait for it, which a direct connection (Node's HTTP clients set noDelay)
  // does not.
  const server = createServer({ noDelay: true }, (client) => {
    opened++;
    open++;
    const upstream = connect({ port: Number(port), host: hostname, noDelay: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    // Either side ending or failing ends both: the client sees what a direct connection would.
    let done = false;
    const cut = () => {
      if (!done) open--;
      done = true;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the connection counter has no TCP port');
  return {
    url: `${protocol}//127.0.0.1:${address.port}`,
    opened: () => opened,
    open: () => open,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
