// Loaded before every test file (.mocharc.json): outputs start as NaN, so an element a kernel
// forgets to write fails its comparison.
import { setAllocationPoison } from '../../lib/index.js';

setAllocationPoison(true);
