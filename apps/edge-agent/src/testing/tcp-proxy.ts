/** A TCP proxy in front of the broker, so a test can cut the agent's connection the way a network would. */
import net from 'node:net';

export interface TcpProxy {
  url: string;
  /** Destroys every open connection; new ones are refused while `blocked`. */
  sever(): void;
  blocked: boolean;
  close(): Promise<void>;
}

export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: TcpProxy = {
    url: '',
    blocked: false,
    sever: () => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    close: () => {
      proxy.sever();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((client) => {
    if (proxy.blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 1883), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return proxy;
}
