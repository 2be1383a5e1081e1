/** Absolute path of packages/celery-python (what `pip wheel` builds). */
export declare const PACKAGE_DIR: string;

/** Runs a command; resolves its output (stdout and stderr), rejects with its tail on failure. */
export declare function run(
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<string>;

export interface PackageEnv {
  /** The pinned Celery venv's python. */
  python: string;
  /** Where the wheel is installed (PYTHONPATH). */
  site: string;
  /** The wheel file. */
  wheel: string;
}

/**
 * Builds resultstore-celery's wheel (once per hash of its sources; later runs reuse it) and
 * installs it, without dependencies, beside @resultstore/celery-interop's pinned Celery venv.
 */
export declare function packageEnv(): Promise<PackageEnv>;

/** The environment of a Python child: the installed wheel on its path, nothing else of ours. */
export declare function pythonEnv(site: string, extra?: Record<string, string>): NodeJS.ProcessEnv;
