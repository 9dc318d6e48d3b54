// Jest: only *.test.ts under __tests__ are tests (helpers there are not). Type-checking is done once
// by `tsc --noEmit` in `npm test`, so ts-jest only transpiles (much faster on 2 cores).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/__tests__/**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  moduleFileExtensions: ["ts", "js", "json"],
  setupFilesAfterEnv: ["<rootDir>/__tests__/support/setup-cdktf.ts"],
  testTimeout: 60000,
};
