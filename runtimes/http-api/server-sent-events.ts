import { PROTOCOL_ERROR_CODE, RemoteApiError } from '../../kernel/errors.ts';

/** One server-sent event: its name (`message` when unnamed), its data lines joined, its id. */
export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/**
 * Reads server-sent events (the text/event-stream format) from a response body, one at a time.
 * A line longer than `lineCharactersMax` is refused (EPROTO), so a server that never ends a line
 * cannot make the client buffer without bound. `next` can be abandoned through a signal: it then
 * cancels the body, which works even when the fetch ignores signals (an app's own fetch in tests).
 */
export class ServerSentEventReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  readonly #lineCharactersMax: number;
  #buffer = '';
  #ended = false;

  constructor(body: ReadableStream<Uint8Array>, lineCharactersMax: number) {
    this.#reader = body.getReader();
    this.#lineCharactersMax = lineCharactersMax;
  }

  /** The next event, or undefined when the stream ended or `signal` aborted. */
  async next(signal?: AbortSignal): Promise<ServerSentEvent | undefined> {
    let event = 'message';
    const data: string[] = [];
    let id: string | undefined;
    for (;;) {
      const line = await this.#nextLine(signal);
      if (line === undefined) return undefined;
      if (line === '') {
        if (data.length > 0) return { event, data: data.join('\n'), id };
        event = 'message';
        continue;
      }
      if (line.startsWith(':')) continue; // a comment: heartbeats
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }

  /** Stops reading and releases the body. */
  async close(): Promise<void> {
    this.#ended = true;
    await this.#reader.cancel().catch(() => {});
  }

  async #nextLine(signal: AbortSignal | undefined): Promise<string | undefined> {
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (match !== null) {
        const line = this.#buffer.slice(0, match.index);
        this.#buffer = this.#buffer.slice(match.index + match[0].length);
        return line;
      }
      if (this.#buffer.length > this.#lineCharactersMax) {
        throw new RemoteApiError(PROTOCOL_ERROR_CODE, `a server-sent event line is longer than ${this.#lineCharactersMax} characters`, 200);
      }
      if (this.#ended) return undefined;
      const chunk = await this.#read(signal);
      if (chunk === undefined) {
        this.#ended = true;
        return undefined;
      }
      this.#buffer += this.#decoder.decode(chunk, { stream: true });
    }
  }

  /** One read of the body, given up (and the body cancelled) when `signal` aborts. */
  async #read(signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
    if (signal?.aborted === true) {
      await this.close();
      return undefined;
    }
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<undefined>((resolve) => {
      onAbort = () => resolve(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([this.#reader.read(), aborted]);
      if (result === undefined) {
        await this.close();
        return undefined;
      }
      return result.done ? undefined : result.value;
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }
}
