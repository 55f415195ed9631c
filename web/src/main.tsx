import { createRoot } from "react-dom/client";
import { takeTokenFromAddress } from "./api";
import { App } from "./App";
import "./app.css";

takeTokenFromAddress();
createRoot(document.getElementById("root")!).render(<App />);
