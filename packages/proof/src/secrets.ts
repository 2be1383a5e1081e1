/**
 * The forms a secret can take in an error's text: as it is, percent-encoded (as in a URL or a
 * form body) and base64 or base64url (as in a Basic or signed header). Base64 depends on where
 * the secret starts inside the encoded text, so each of the three alignments gives its own form:
 * the characters that encode only the secret's bytes, without the edges shared with neighbours.
 */
export function secretForms(secret: string): string[] {
  if (!secret) return [];
  const forms = new Set<string>([secret]);
  const percent = encodeURIComponent(secret);
  forms.add(percent);
  forms.add(percent.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  forms.add(encodeURI(secret));
  const bytes = Buffer.from(secret, "utf8");
  for (let offset = 0; offset < 3; offset++) {
    // `offset` bytes before the secret: skip the characters they share with it, and stop before
    // the last group, which bytes after the secret (or padding) change.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    const from = offset === 0 ? 0 : Math.ceil((offset * 8) / 6);
    const to = Math.floor(((offset + bytes.length) * 8) / 6);
    const core = encoded.slice(from, to);
    // Too short a core would match by chance; a secret that short is its own plain form.
    if (core.length < 8) continue;
    forms.add(core);
    forms.add(core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return [...forms];
}

/** The first form of any of `secrets` that `text` contains, or undefined. */
export function findSecret(text: string, secrets: readonly string[]): string | undefined {
  for (const secret of secrets) {
    for (const form of secretForms(secret)) if (text.includes(form)) return form;
  }
  return undefined;
}
