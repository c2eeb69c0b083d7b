// Exit codes of the `bitnet` command, in one place so commands and main agree.

/** 0 ok, 1 usage / generic failure, 2 bad input file, 8 strict-mode violation, 130 interrupted (128 + SIGINT). */
export const EXIT = { ok: 0, failure: 1, badInput: 2, strict: 8, interrupted: 130 } as const;
