import { BrowserRouter, Route, Routes } from "react-router-dom";
import { Shell } from "@rat/ui";
import { ROUTES } from "./routes";
import { NotFound } from "./NotFound";

/** History routing under the portal's path, so every page is a deep link the server answers with index.html. */
export function App({ basename }: { basename: string }) {
  return (
    <BrowserRouter basename={basename.replace(/\/$/, "") || "/"}>
      <Shell>
        <Routes>
          {ROUTES.map((r) => (
            <Route key={r.path} path={r.path} element={r.element} />
          ))}
          <Route path="*" element={<NotFound />} />
        </Routes>
      </Shell>
    </BrowserRouter>
  );
}
