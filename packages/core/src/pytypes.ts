/**
 * JavaScript stand-ins for the Python types kombu's JSON encoder marks with
 * `{"__type__", "__value__"}` and JS has no native form for. They round-trip unchanged.
 */

/** Python `decimal.Decimal`, kept as its exact text. */
export class PyDecimal {
  constructor(readonly value: string) {}
  /** The exact decimal text. */
  toString(): string {
    return this.value;
  }
}

/** Python `uuid.UUID`, kept as 32 lowercase hex digits. */
export class PyUUID {
  readonly hex: string;
  constructor(value: string) {
    this.hex = value.replace(/-/g, "").toLowerCase();
  }
  /** The dashed form Python's `str(uuid)` gives. */
  toString(): string {
    const h = this.hex;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

/** Python `datetime.date`, as `YYYY-MM-DD`. */
export class PyDate {
  constructor(readonly iso: string) {}
  /** The ISO date text (`YYYY-MM-DD`). */
  toString(): string {
    return this.iso;
  }
}

/** Python `datetime.time`, as its `isoformat()` text. */
export class PyTime {
  constructor(readonly iso: string) {}
  /** The ISO time text. */
  toString(): string {
    return this.iso;
  }
}
