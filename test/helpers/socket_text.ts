import type { Socket } from 'node:net';

/** Everything read from the socket, as UTF-8, once it has closed. */
export const collect = (sock: Socket): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => (text += chunk));
    sock.on('error', reject);
    sock.on('close', () => resolve(text));
  });
