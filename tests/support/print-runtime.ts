/**
 * Test fixture: prints, as one JSON line on stdout, the Node.js runtime this process runs on
 * (`{ "node": "24.x.y", "execPath": "/abs/path/to/node" }`). Spawned by
 * tests/foundation/runtime.int.test.ts the way the demo spawns a service.
 */
console.log(JSON.stringify({ node: process.versions.node, execPath: process.execPath }));
