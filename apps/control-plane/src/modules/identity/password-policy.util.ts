/**
 * The password policy, after NIST SP 800-63B: length over composition rules, and no password that is
 * common or made of the account's own names. Answers every problem, so a form can show them all.
 */
export const PASSWORD_MIN_LENGTH = 12;
/** Long enough for any passphrase, short enough that hashing it is no denial-of-service lever. */
export const PASSWORD_MAX_LENGTH = 256;

/** The most used passwords of public breach corpora that meet the length rule, and this product's names. */
const COMMON = new Set([
  '123456789012',
  '1234567890123',
  'qwertyuiopas',
  'qwerty123456',
  'password1234',
  'password12345',
  'passwordpassword',
  'iloveyou1234',
  'letmein12345',
  'welcome12345',
  'administrator',
  'changeme1234',
  'trustno1trustno1',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'qazwsxedcrfv',
  'abcdefghijkl',
  'abc123abc123',
  'football1234',
  'baseball1234',
  'sunshine1234',
  'princess1234',
  'superman1234',
  'medfleet1234',
  'medfleetmedfleet',
  'hipaahipaa12',
]);

export interface PasswordContext {
  email?: string;
  displayName?: string;
  organizationSlug?: string;
}

export function passwordProblems(password: string, context: PasswordContext = {}): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters long`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters long`);
  if (length > 0 && new Set(password).size < 5) problems.push('must use at least 5 different characters');
  const lower = password.toLowerCase();
  if (COMMON.has(lower) || isSequence(lower)) problems.push('is too common or predictable');
  const names = [
    context.email?.split('@')[0],
    context.email?.split('@')[1]?.split('.')[0],
    ...(context.displayName?.split(/\s+/) ?? []),
    context.organizationSlug,
  ];
  if (names.some((name) => name !== undefined && name.length >= 4 && lower.includes(name.toLowerCase()))) {
    problems.push('must not contain the account email, name or organization');
  }
  return problems;
}

/** Runs of consecutive characters like "abcdefghijklm" or "987654321098". */
function isSequence(password: string): boolean {
  let rising = 0;
  let falling = 0;
  for (let i = 1; i < password.length; i++) {
    const delta = password.charCodeAt(i) - password.charCodeAt(i - 1);
    if (delta === 1 || delta === -9) rising++;
    if (delta === -1 || delta === 9) falling++;
  }
  return Math.max(rising, falling) >= password.length - 2;
}
