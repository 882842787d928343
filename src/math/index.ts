/**
 * Elementary functions that give the same bits in every JavaScript engine. ECMAScript
 * specifies +, −, ×, ÷ and Math.sqrt exactly but leaves Math.exp, Math.tanh, `**` … to the
 * engine, and engines differ (Node 20 and Chromium 150 disagree on Math.tanh and `**`).
 * The numerics of the core use these instead, so the same seed gives the same numbers in
 * Node and in every browser. They are fdlibm's algorithms; in Node 20 all but `pow` return
 * exactly what Math does (tested), so adopting them changed no result but Adam's.
 */
export { acosh } from "./acosh.js";
export { wrapAngle } from "./angle.js";
export { atan, atan2 } from "./atan.js";
export { exp, expm1 } from "./exp.js";
export { log, log1p } from "./log.js";
export { pow } from "./pow.js";
export { tanh } from "./tanh.js";
export { cos, sin, sincos } from "./trig.js";
