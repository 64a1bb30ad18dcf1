// The shared packages (@rat/ui, @rat/client) are TypeScript sources, like this extension: rspack's built-in SWC
// compiles them, so one bundler turns the whole tree into the prebuilt extension (no separate tsc emit step).
module.exports = {
  module: {
    rules: [
      {
        test: /\.tsx?$/,
        exclude: /node_modules[\\/](?!@rat[\\/])/,
        loader: "builtin:swc-loader",
        options: {
          jsc: {
            parser: { syntax: "typescript", tsx: true },
            transform: { react: { runtime: "automatic" } },
            target: "es2022",
          },
        },
        type: "javascript/auto",
      },
    ],
  },
  resolve: { extensions: [".ts", ".tsx", ".js", ".mjs", ".json"] },
};
