import type { MouseEvent, ReactNode } from "react";
import { navigate } from "../router";

/** A link to a page of the dashboard: a real <a> (keyboard, middle click), changed in place. */
export function Link({ to, current, children, className }: { to: string; current?: boolean; children: ReactNode; className?: string }) {
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={click} aria-current={current ? "page" : undefined} className={className}>
      {children}
    </a>
  );
}
