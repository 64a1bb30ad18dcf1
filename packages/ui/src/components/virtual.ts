import { observeElementRect, type Virtualizer } from "@tanstack/react-virtual";

/** Measure the scroll element as usual, but treat a zero-sized one (not laid out yet, hidden, or jsdom) as the
 * given size, so a window of rows still renders and tests can see it. */
export function observeRectWithFallback(fallback: { width: number; height: number }) {
  return (instance: Virtualizer<HTMLDivElement, Element>, cb: (rect: { width: number; height: number }) => void) =>
    observeElementRect(instance, (rect) => cb(rect.width === 0 && rect.height === 0 ? fallback : rect));
}
