import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";

const plugin: JupyterFrontEndPlugin<void> = {
  id: "rat-jupyter:plugin",
  description: "RAT in JupyterLab",
  autoStart: true,
  activate: (_app: JupyterFrontEnd) => {
    console.log("RAT extension activated");
  },
};
export default plugin;
