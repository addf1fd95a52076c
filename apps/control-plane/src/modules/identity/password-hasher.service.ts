/** argon2id password hashes (PHC strings), with parameters from the configuration and upgrade on sign-in. */
import { Inject, Injectable } from '@nestjs/common';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';

@Injectable()
export class PasswordHasher {
  private readonly options: {
    algorithm: Algorithm;
    memoryCost: number;
    timeCost: number;
    parallelism: number;
  };
  private dummy: Promise<string> | null = null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.options = {
      algorithm: Algorithm.Argon2id,
      memoryCost: config.PASSWORD_HASH_MEMORY_KIB,
      timeCost: config.PASSWORD_HASH_ITERATIONS,
      parallelism: 1,
    };
  }

  hash(password: string): Promise<string> {
    return hash(password, this.options);
  }

  async verify(stored: string, password: string): Promise<boolean> {
    try {
      return await verify(stored, password);
    } catch {
      return false;
    }
  }

  /** True when the hash was made with other parameters than today's, so a successful sign-in rehashes. */
  needsRehash(stored: string): boolean {
    const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
    return (
      !match ||
      Number(match[1]) !== this.options.memoryCost ||
      Number(match[2]) !== this.options.timeCost ||
      Number(match[3]) !== this.options.parallelism
    );
  }

  /**
   * Spends the time of one verification on nothing, so that an unknown account, or one without a
   * password, answers as slowly as a wrong password does.
   */
  async burn(password: string): Promise<void> {
    this.dummy ??= this.hash('medfleet-timing-equalizer');
    await this.verify(await this.dummy, password);
  }
}
