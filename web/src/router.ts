import { useEffect, useState } from "react";

// The dashboard's pages are paths (/backups, /settings…): the server answers index.html for each, and the
// fragment stays free for the POS's #token=.

export function navigate(path: string): void {
  if (path !== window.location.pathname + window.location.search) history.pushState(null, "", path);
  window.dispatchEvent(new Event("caps-navigate"));
}

export function usePath(): { path: string; query: URLSearchParams } {
  const read = () => ({ path: window.location.pathname, query: new URLSearchParams(window.location.search) });
  const [location, setLocation] = useState(read);
  useEffect(() => {
    const update = () => setLocation(read());
    window.addEventListener("popstate", update);
    window.addEventListener("caps-navigate", update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener("caps-navigate", update);
    };
  }, []);
  return location;
}
