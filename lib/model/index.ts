// The topology model: pure functions of one validated, frozen topology. No cdktf, no templates, no fs
// (except the loader).
export * from "./types";
export * from "./catalog";
export * from "./load";
export * from "./naming";
export * from "./network";
export * from "./hosts";
export * from "./ports";
export * from "./timing";
export * from "./budget";
export * from "./objectives";
export * from "./outputs";
export { TOPOLOGY_SCHEMA } from "./schema";
