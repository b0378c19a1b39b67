// `using` support (Symbol.dispose) on Nodes that have the symbol; older Nodes simply lack it.

/** Makes `instance[Symbol.dispose]()` call `instance[method]()` where Symbol.dispose exists. */
export function installDispose<T extends object>(
  cls: { prototype: T },
  method: keyof T & string,
): void {
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  if (dispose === undefined) return;
  Object.defineProperty(cls.prototype, dispose, {
    value(this: T) {
      (this[method] as () => void)();
    },
    configurable: true,
    writable: true,
  });
}
