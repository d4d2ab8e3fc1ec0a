// e2e tests wait for real servers and a real operator: give each test two minutes.
import { jest } from '@jest/globals';

jest.setTimeout(120_000);
