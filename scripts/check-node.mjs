// Refuses to run Chorus on a Node.js older than 22 with a message that says what to do.
// Plain JavaScript on purpose: it must parse on any Node.js, even one that cannot read TypeScript.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(
    `Chorus needs Node.js 22 or newer (24 LTS preferred); this is ${process.version}.\n` +
      'Run it through npm (npm start / npm test), which puts the node@24 dev dependency on PATH, ' +
      'or install Node.js 24.',
  );
  process.exit(1);
}
