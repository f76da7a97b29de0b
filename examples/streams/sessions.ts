/**
 * User-activity sessions: a user's clicks less than 30 seconds apart (in event time) form one
 * session; each session is emitted once, when it closes — event time has moved 30 s past its
 * last click, plus 10 s of grace. A click that bridges two sessions merges them; one older
 * than the grace allows is dead-lettered as late. Run through
 * the topology test driver:
 *
 *   node --conditions=source --import tsx examples/streams/sessions.ts
 */
import { pathToFileURL } from 'node:url';
// #region snippet
import { toMessage, TopologyBuilder, Windows, type Windowed } from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

interface PageViewed {
  userId: string;
  page: string;
}

/** What a session adds up to. */
export interface Session {
  views: number;
  pages: string[];
}

export function sessionsTopology() {
  const builder = new TopologyBuilder({ name: 'user-sessions', deadLetters: 'late-views' });
  builder
    .stream<PageViewed>('page-views')
    .groupBy((view) => view.userId)
    .windowedBy(Windows.session({ gap: 30_000, grace: 10_000 }))
    .aggregate<Session>(
      'sessions',
      () => ({ views: 0, pages: [] }),
      (session, view) => ({ views: session.views + 1, pages: [...session.pages, view.page] }),
      // Two sessions joined by a click in between become one.
      (a, b) => ({ views: a.views + b.views, pages: [...a.pages, ...b.pages] }),
    )
    .toStream()
    .to('sessions');
  return builder.build();
}

export function runSessionsExample(log: (line: string) => void = console.log): void {
  const driver = new TopologyTestDriver(sessionsTopology());
  const at = (time: string) => new Date(`2026-01-01T12:${time}Z`);
  const view = (time: string, userId: string, page: string) =>
    driver.pipeMessage(
      'page-views',
      toMessage({ type: 'PageViewed', time: at(time), data: { userId, page } }),
    );

  view('00:00', 'ada', '/');
  view('00:10', 'linus', '/docs');
  view('00:20', 'ada', '/pricing'); // 20 s after '/': the same session
  view('00:50', 'linus', '/docs/streams'); // 40 s after '/docs': a new session
  view('01:25', 'linus', '/blog'); // 35 s after that: a new one, for now
  view('01:16', 'linus', '/docs/joins'); // 9 s late, within grace, bridges the two: one session
  view('01:40', 'ada', '/signup'); // 80 s after '/pricing': a new session
  view('00:30', 'grace', '/'); // older than the grace allows: dead-lettered, not counted
  view('03:00', 'grace', '/home'); // moves event time on: the sessions above close

  const clock = (ms: number) => new Date(ms).toISOString().slice(14, 19);
  for (const { key, value } of driver.read<Windowed<string>, Session>('sessions')) {
    log(
      `${key.key} ${clock(key.window.start)}–${clock(key.window.end)}: ${value.views} view${value.views === 1 ? '' : 's'} (${value.pages.join(' ')})`,
    );
  }
  log(`late views: ${driver.readDeadLetters().length}`);
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runSessionsExample();
