import { useEffect, useState } from "react";

export interface DeviceStarted { connect_id: string; verification_url: string; user_code: string; expires_in: number; interval: number }
export interface ConnectState { state: string; account?: string; message?: string }

/** The device flow: a code to type at Google's address on any phone, polled until it is used. */
export function DeviceConnect({ device, poll, onEnd }: { device: DeviceStarted; poll: (id: string) => Promise<ConnectState>; onEnd: () => void }) {
  const [state, setState] = useState<ConnectState>({ state: "waiting" });
  useEffect(() => {
    const timer = setInterval(async () => {
      try {
        const now = await poll(device.connect_id);
        setState(now);
        if (now.state !== "waiting" && now.state !== "pending") clearInterval(timer);
      } catch {
        clearInterval(timer);
      }
    }, Math.max(2, device.interval) * 1000);
    return () => clearInterval(timer);
  }, [device.connect_id, device.interval]);
  const done = state.state !== "waiting" && state.state !== "pending";
  return (
    <section className="card" aria-live="polite" aria-labelledby="device-title">
      <h2 id="device-title">Connect with a phone</h2>
      <p>On a phone or computer, open <strong>{device.verification_url}</strong> and enter this code:</p>
      <p className="code" data-testid="device-code">{device.user_code}</p>
      <p>{state.state === "connected" ? `Connected as ${state.account ?? "your Google account"}.` : done ? state.message ?? `The connection ended: ${state.state}.` : "Waiting for the code to be entered…"}</p>
      {done && <button type="button" onClick={onEnd}>Close</button>}
    </section>
  );
}
