import { describe, expect, it } from 'vitest';
import { PASSWORD_MAX_LENGTH, passwordProblems } from './password-policy.util.js';

describe('password policy', () => {
  it.each(['correct horse battery staple', 'Tr0ub4dor&3-clinic', 'mañana-café-niño-7', 'x7#Lq9!vR2@mZ'])(
    'accepts %j',
    (password) => {
      expect(passwordProblems(password, { email: 'ana@acme.example', organizationSlug: 'acme' })).toEqual([]);
    },
  );

  it('refuses short passwords, counting characters rather than bytes', () => {
    expect(passwordProblems('Sh0rt!pass')).toEqual(['must be at least 12 characters long']);
    expect(passwordProblems('ñññññññññññ')).toContain('must be at least 12 characters long');
  });

  it('refuses overlong passwords', () => {
    expect(passwordProblems(`aB3$${'x'.repeat(PASSWORD_MAX_LENGTH)}`)).toContain(
      `must be at most ${PASSWORD_MAX_LENGTH} characters long`,
    );
  });

  it('refuses repetitive, common and sequential passwords', () => {
    expect(passwordProblems('aaaaaaaaaaaaaaaa')).toContain('must use at least 5 different characters');
    expect(passwordProblems('abababababab12')).toContain('must use at least 5 different characters');
    expect(passwordProblems('Password1234')).toContain('is too common or predictable');
    expect(passwordProblems('abcdefghijklmnop')).toContain('is too common or predictable');
    expect(passwordProblems('987654321098')).toContain('is too common or predictable');
  });

  it("refuses passwords built from the account's own names", () => {
    const context = {
      email: 'dr.garcia@coralpeds.example',
      displayName: 'Elena Garcia',
      organizationSlug: 'acme-it',
    };
    expect(passwordProblems('dr.garcia-2024-secure', context)).toContain(
      'must not contain the account email, name or organization',
    );
    expect(passwordProblems('coralpeds!Summer99', context)).toContain(
      'must not contain the account email, name or organization',
    );
    expect(passwordProblems('ELENA-summer-2024!', context)).toContain(
      'must not contain the account email, name or organization',
    );
    expect(passwordProblems('my acme-it login 7', context)).toContain(
      'must not contain the account email, name or organization',
    );
  });

  it('answers every problem at once', () => {
    expect(passwordProblems('aaaa')).toEqual([
      'must be at least 12 characters long',
      'must use at least 5 different characters',
    ]);
  });
});
