// Registers cdktf's Jest matchers (toHaveResourceWithProperties, …) for every test file.
import { Testing } from "cdktf";

Testing.setupJest();
