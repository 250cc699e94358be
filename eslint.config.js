// ESLint (flat config): typescript-eslint's recommended rules, and the project's layering as a rule.
// Layers, lowest first: drivers, src/util -> src/time -> src/player -> src/session -> src/service and
// src/fleet -> src/sim, src/report, calibrate -> src/cli. Nothing imports upward, and the service never
// imports the twins (src/sim): the CLI chooses real hardware or twins (src/cli/hardware-choice.ts).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Folders a layer must not import from (as path fragments of the import specifier). */
const ABOVE = {
  drivers: ['src/', 'calibrate/'],
  util: ['time/', 'player/', 'session/', 'service/', 'fleet/', 'sim/', 'report/', 'cli/', 'calibrate/'],
  time: ['player/', 'session/', 'service/', 'fleet/', 'sim/', 'report/', 'cli/', 'calibrate/'],
  player: ['session/', 'service/', 'fleet/', 'sim/', 'report/', 'cli/', 'calibrate/'],
  session: ['service/', 'fleet/', 'sim/', 'report/', 'cli/', 'calibrate/'],
  service: ['fleet/', 'sim/', 'report/', 'cli/', 'calibrate/'],
  fleet: ['sim/', 'report/', 'cli/', 'calibrate/'],
  sim: ['cli/', 'report/'],
  report: ['cli/', 'sim/'],
  calibrate: ['cli/'],
};

const layer = (files, name) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        // Types may be shared across layers (no code runs from them); code only flows downward.
        patterns: ABOVE[name].map((dir) => ({
          allowTypeImports: true,
          // '../time/clock.js', '../../src/time/clock.js': the layer as a path after the '../'s.
          regex: dir === 'src/' ? '^(\\.\\./)+src/' : `^(\\.\\./)+(src/)?${dir}`,
          message: `${name} is below ${dir.replace(/\/$/, '')}: nothing imports upward (see eslint.config.js)`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/*.c', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrors: 'none',
        },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-empty': ['error', { allowEmptyCatch: true }],
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Errors are re-thrown with a message for people (the file, what to do), on purpose without the internal one.
      'preserve-caught-error': 'off',
      // Prettier wraps code at 120; what it cannot wrap (messages, test titles, comments) is held here too.
      'max-len': [
        'error',
        {
          code: 120,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
          ignoreUrls: true,
          ignorePattern: '^\\s*(test(\\.\\w+)?\\(|it\\()',
        },
      ],
    },
  },
  layer(['drivers/**/*.ts'], 'drivers'),
  layer(['src/util/**/*.ts'], 'util'),
  layer(['src/time/**/*.ts'], 'time'),
  layer(['src/player/**/*.ts'], 'player'),
  layer(['src/session/**/*.ts'], 'session'),
  layer(['src/service/**/*.ts'], 'service'),
  layer(['src/fleet/**/*.ts'], 'fleet'),
  layer(['src/sim/**/*.ts'], 'sim'),
  layer(['src/report/**/*.ts'], 'report'),
  layer(['calibrate/**/*.ts'], 'calibrate'),
  {
    // Time is injected in the logic layers: the monotonic clock and its timers, never the wall clock.
    files: [
      'src/session/**/*.ts',
      'src/player/engine.ts',
      'src/player/plan.ts',
      'src/player/dac-clock.ts',
      'src/player/timeline.ts',
    ],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'time is injected: use the MonotonicClock or the timescale' },
        { object: 'performance', property: 'now', message: 'time is injected: use the MonotonicClock' },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'timers come from the injected MonotonicClock (setTimer)' },
        { name: 'setInterval', message: 'timers come from the injected MonotonicClock (setTimer)' },
      ],
    },
  },
);
