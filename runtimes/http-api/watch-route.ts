import { BusyError } from '../../kernel/errors.ts';
import { normalizeUserPath } from '../../kernel/fs/paths.ts';
import type { ChangeEvent } from '../../kernel/fs/types.ts';
import { errorAnswer, parseWith, type RouteRegistrar } from './http-api.ts';
import { watchRoute } from './route-definitions.ts';
import { decodeUrlPath, HttpStatusError, ROUTES, WATCH_EVENT } from './wire.ts';

const encoder = new TextEncoder();

/**
 * `GET /api/v1/watch/<path>?since=N` as server-sent events. The response is a pull stream: the
 * kernel's watch iterator is advanced only when the connection takes more, so a slow reader holds
 * one event, not a queue. When the client goes away the runtime cancels the stream, which aborts the
 * kernel's watch. Without `since`, the server reads the revision while it handles the request, so
 * "from now on" means from the request, not from the first pull.
 */
export function registerWatchRoute(registrar: RouteRegistrar): void {
  const { fs, limits } = registrar;
  let openStreams = 0;

  registrar.serve(watchRoute, async (context) => {
    const path = decodeUrlPath(new URL(context.req.url).pathname.slice(ROUTES.watch.length), limits.pathBytesMax);
    const query = parseWith(watchRoute.request.query, context.req.query(), 'query');
    // The kernel checks the path at the first pull, after the 200 has gone out: check it now, so a
    // bad or reserved path is a 400 or 403 rather than an error event.
    normalizeUserPath(path, 'watch');
    if (openStreams >= limits.watchStreamsMax) {
      throw new HttpStatusError(503, new BusyError(`this server serves at most ${limits.watchStreamsMax} watch streams at once`));
    }
    const since = query.since ?? (await fs.revision());
    const abort = new AbortController();
    const iterator = fs.watch(path, { since, signal: abort.signal })[Symbol.asyncIterator]();
    openStreams++;
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      openStreams--;
      clearInterval(heartbeat);
      abort.abort();
    };
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        // A first comment makes the runtime send the headers now, so the client's fetch resolves.
        controller.enqueue(encoder.encode(`: watching ${JSON.stringify(path)} after revision ${since}\n\n`));
        heartbeat = setInterval(() => {
          try {
            controller.enqueue(encoder.encode(': heartbeat\n\n'));
          } catch {
            finish(); // the stream closed under the timer: nothing more to send
          }
        }, limits.watchHeartbeatMs);
      },
      async pull(controller) {
        try {
          const result = await iterator.next();
          if (finished) return;
          if (result.done === true) {
            finish();
            controller.close();
            return;
          }
          controller.enqueue(encoder.encode(changeEventText(result.value)));
        } catch (error) {
          if (finished) return;
          const answer = errorAnswer(error, registrar.onUnexpectedError);
          controller.enqueue(encoder.encode(`event: ${WATCH_EVENT.error}\ndata: ${JSON.stringify(answer.body)}\n\n`));
          finish();
          controller.close();
        }
      },
      cancel() {
        finish();
      },
    });
    return new Response(stream, {
      status: 200,
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
    });
  });
}

/** One change as an SSE event; JSON never holds a raw line break, so the data is one line. */
function changeEventText(event: ChangeEvent): string {
  return `event: ${WATCH_EVENT.change}\nid: ${event.revision}\ndata: ${JSON.stringify(event)}\n\n`;
}
