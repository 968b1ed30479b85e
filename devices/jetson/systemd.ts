import { execFile } from 'node:child_process';

/** Options of {@link SystemdNotifier.fromEnv}. */
export interface SystemdNotifierOptions {
  /** Environment to read `NOTIFY_SOCKET` and `WATCHDOG_USEC` from. @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /** The notifier executable. @defaultValue 'systemd-notify' */
  command?: string;
  /** Receives failures to notify (never thrown: a missed ping must not crash the service). @defaultValue silent */
  log?: (message: string) => void;
}

/**
 * Talks to systemd for a `Type=notify` unit with `WatchdogSec=`: READY=1 once the pipeline runs, STATUS= lines,
 * and WATCHDOG=1 pings only while the pipeline makes progress, so a hung pipeline is restarted by systemd.
 * Node has no AF_UNIX datagram sockets, so messages go through the `systemd-notify` tool; the unit therefore
 * needs `NotifyAccess=all` (the message comes from a child process). Outside systemd every call is a no-op.
 */
export class SystemdNotifier {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    /** Whether a notify socket was found (running under systemd `Type=notify`). */
    readonly active: boolean,
    /** The watchdog interval systemd asked for, in ms (`WATCHDOG_USEC`); undefined when there is none. */
    readonly watchdogMs: number | undefined,
    private readonly command: string,
    private readonly log: (message: string) => void,
  ) {}

  /**
   * Reads the systemd environment.
   * @param options - Environment, executable and logger.
   * @returns A notifier; inactive when `NOTIFY_SOCKET` is not set.
   */
  static fromEnv(options: SystemdNotifierOptions = {}): SystemdNotifier {
    const env = options.env ?? process.env;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID, when set, names the process systemd expects the pings from; it is us unless it says otherwise.
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    return new SystemdNotifier(
      Boolean(env.NOTIFY_SOCKET),
      Number.isFinite(usec) && usec > 0 && forUs ? usec / 1000 : undefined,
      options.command ?? 'systemd-notify',
      options.log ?? (() => undefined),
    );
  }

  /** Tells systemd the service is up. */
  ready(status?: string): Promise<void> {
    return this.send(['--ready', ...(status ? [`--status=${status}`] : [])]);
  }

  /** Sets the one-line status `systemctl status` shows. */
  status(text: string): Promise<void> {
    return this.send([`--status=${text}`]);
  }

  /**
   * Pings the watchdog at half the interval systemd asked for, but only while `healthy()` says the pipeline is
   * making progress; when it stops, the pings stop and systemd restarts the unit after `WatchdogSec`.
   * @param healthy - e.g. `() => Date.now() - lastFrameAt < 30_000`.
   */
  startWatchdog(healthy: () => boolean): void {
    if (!this.active || this.watchdogMs === undefined || this.timer) return;
    this.timer = setInterval(() => {
      if (healthy()) void this.send(['WATCHDOG=1']);
      else this.log('pipeline stalled: watchdog pings withheld, systemd will restart the service');
    }, Math.max(100, this.watchdogMs / 2));
    this.timer.unref();
  }

  /** Tells systemd the service is stopping and stops the watchdog pings. */
  async stopping(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.send(['STOPPING=1']);
  }

  private send(args: string[]): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise((resolve) => {
      execFile(this.command, args, { timeout: 5000 }, (err) => {
        if (err) this.log(`${this.command} ${args.join(' ')}: ${err.message}`);
        resolve();
      });
    });
  }
}
