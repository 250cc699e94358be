// Development entry (node --import tsx src/cli/bin.ts ...): the same CLI as bin/jaudiosync.js.
import { main } from './main.js';

process.exit(await main(process.argv));
