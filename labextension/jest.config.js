/**
 * Unit tests: the REST/SSE client and the chat state, against a real HTTP server on 127.0.0.1;
 * the code blocks of an answer in jsdom (a file's `@jest-environment jsdom` docblock), rendered
 * by marked, the markdown parser of JupyterLab (its ES module build is not loadable by jest's
 * CommonJS runtime: the UMD build of the same package is).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleNameMapper: {
    '^marked$': '<rootDir>/node_modules/marked/lib/marked.umd.js'
  },
  testTimeout: 20000
};
